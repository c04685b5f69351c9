(getenv 'HOME)
