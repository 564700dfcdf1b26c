"""The desktop app: thin Qt classes that wire the engine to views and only draw."""
