(list ())
