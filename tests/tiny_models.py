"""Constructor arguments that make each registered model small enough to train in tests."""

TINY_CONFIGS = {}
