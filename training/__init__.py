"""Training: labelled data, fine-tuning, calibration, evaluation and export."""
