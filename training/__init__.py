"""Training the reader: SQuAD and generated questions as examples, fine-tuning, calibration. Not part of the
installed package: run from the repository (`python -m training.train`)."""
