"""What other trackers recorded (wandb, MLflow, TensorBoard, DVCLive) read into gitexp
runs, and runs exported to tables."""
