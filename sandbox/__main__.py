"""`python -m sandbox`: run the three sandbox upstreams."""

from sandbox.server import main

main()
