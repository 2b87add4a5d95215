"""What a run is told: hosts.yaml, payload.yaml, and the line-aware YAML loader."""
