"""CallKeeper (ckct.ru call-tracking API): calls, per API key."""
