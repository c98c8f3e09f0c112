"""`fastpoll demo`: the whole pipeline on one machine with nothing installed but fastpoll."""
