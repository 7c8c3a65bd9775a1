"""Reading the recorded events: the cycle document, its replay, and the explanation of a share."""
