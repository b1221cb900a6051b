"""The yardstick: a bare Flask "hello world", served by the same gunicorn settings as Inkwell."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, world!"
