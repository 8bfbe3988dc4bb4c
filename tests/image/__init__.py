"""Tests of the container image built from the Dockerfile."""
