"""Scripted agents, a Gymnasium env around a World, and the evaluation harness (issue 7)."""
