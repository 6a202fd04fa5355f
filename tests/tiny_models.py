"""Constructor arguments that make each registered model small enough to train in tests."""

TINY_CONFIGS = {
    "gated_conv": {"image_size": 32, "width": 4},
    "partial_conv": {"image_size": 32, "depth": 3, "width": 4},
    "contextual_attention": {"image_size": 64, "width": 4, "critic_steps": 1},
    "global_local": {"image_size": 32, "width": 4, "phases": (0, 0, 10)},
    "context_encoder": {"image_size": 32, "width": 4},
    "latent_search": {"image_size": 32, "width": 4, "latent_dim": 8, "search_steps": 3,
                      "candidates": 2, "seed": 0},
}
