"""calltrack-sandbox: a local emulator of the Calltouch, Comagic and CallKeeper APIs for the
tests, benchmarks and demo of tap-calltrack (server.py: the HTTP server and its CLI)."""
