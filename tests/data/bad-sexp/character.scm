(list #\a)
