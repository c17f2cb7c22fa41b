"""Test support: local servers that speak the Anthropic and OpenAI wire protocols."""
