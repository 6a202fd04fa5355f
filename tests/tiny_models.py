"""Constructor arguments that make each registered model small enough to train in tests."""

TINY_CONFIGS = {
    "gated_conv": {"image_size": 32, "width": 4},
    "partial_conv": {"image_size": 32, "depth": 3, "width": 4},
    "context_encoder": {"image_size": 32, "width": 4},
    "latent_search": {"image_size": 32, "width": 4, "latent_dim": 8, "search_steps": 3,
                      "candidates": 2, "seed": 0},
}
