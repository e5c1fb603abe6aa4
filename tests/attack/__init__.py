"""The attack suite: black-box attacks on a node through its command lines and its HTTP endpoint."""
