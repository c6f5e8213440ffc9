"""Evaluate checkpoints across training steps, and convert them to and from Hugging Face."""
