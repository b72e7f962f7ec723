"""Fine-tuning: the training steps, the Trainer subclass, losses, trackers and hyperparameter search."""
