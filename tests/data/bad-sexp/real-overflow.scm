(build-machine (name "a") (speed 1e400))
