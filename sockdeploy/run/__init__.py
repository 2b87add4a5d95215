"""One run, step by step: workspace, build, server, network path, clients, verdicts."""
