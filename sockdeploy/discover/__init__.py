"""Discovery: read a folder of a student's sources and find the server, the client and how to run them."""
