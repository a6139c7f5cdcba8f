"""stable-baselines3 training and evaluation for themis-env, and the shipped trained agents."""
