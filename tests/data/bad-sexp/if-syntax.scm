(if (getenv "X"))
