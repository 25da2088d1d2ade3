"""Slack adapters: Web API clients per workspace, and every reply pinbot sends."""
