"""The tools the assistant may call."""

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


def get_weather(location: str) -> dict:
    return {"location": location, "temp_c": 21, "sky": "sunny"}


TOOLS = {"get_weather": get_weather}
