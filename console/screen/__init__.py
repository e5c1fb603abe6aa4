"""The console's screens: one module per screen, each a :class:`~console.screen.desk.DeskScreen`."""
