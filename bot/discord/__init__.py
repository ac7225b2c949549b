"""The Discord bot (discord.py 2.x): slash commands, context menus, buttons and reactions over :mod:`core.app`.

``app`` assembles and runs the client (and points it at another API / gateway for tests and proxies),
``client`` holds the client and its event handlers, ``commands`` the slash commands and context menus, ``views``
the persistent buttons, modal and menus, ``embeds`` how a card looks. Nothing here decides anything about
records: that is core's.
"""
