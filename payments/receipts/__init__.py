"""Customer receipts: one document (``document.ReceiptDocument``) rendered as HTML (the public page,
``dashboard/templates/dashboard/receipt.html``) and as ESC/POS bytes for thermal printers
(``escpos.receipt_escpos``). docs/ARCHITECTURE.md, Receipts and the cashier's view."""
