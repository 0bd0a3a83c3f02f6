"""tap-calltrack: Calltouch, Comagic (UIS) and CallKeeper for any Singer target."""
