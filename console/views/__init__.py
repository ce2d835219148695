"""The console's pages, one module per page; ``console.urls`` names them."""
