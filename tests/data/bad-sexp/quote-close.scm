(list 'x ')
