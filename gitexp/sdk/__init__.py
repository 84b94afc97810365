"""What a training script imports: init, log, config, summary, finish, watch (the wandb shape)."""
