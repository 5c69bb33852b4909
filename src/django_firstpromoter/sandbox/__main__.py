from django_firstpromoter.sandbox.cli import main

main()
