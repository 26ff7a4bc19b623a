"""Fakes of Slack's Web API and OpenAI's API as real HTTP servers on loopback."""
