"""What a run leaves: the run folder, transcript, timeline, answers, bundle, progress lines."""
