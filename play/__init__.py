"""Ways to play a World: a pygame window (pygame_app) and headless video (headless)."""
