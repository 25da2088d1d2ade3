"""`python -m pinbot …` is `pinbot …`."""

from pinbot.main import main

main()
