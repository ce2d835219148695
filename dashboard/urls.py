"""The merchant dashboard, mounted at the site root: login/logout, web POS, reports and settings; the
public receipt pages (``/r/``) and the cashier's view (``/cashier/``)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from dashboard import (
    views_cashier,
    views_cashier_refunds,
    views_pos,
    views_pos_clock,
    views_receipts,
    views_refunds,
    views_reports,
    views_settings,
    views_shifts,
    views_tip,
)

app_name = "dashboard"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="dashboard/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="dashboard:login"), name="logout"),
    path("", views_pos.pos, name="pos"),
    path("pos/invoices/", views_pos.invoice_create_view, name="pos-create"),
    path("pos/group/", views_pos_clock.pos_group_set, name="pos-group"),
    path("pos/clock/", views_pos_clock.pos_clock, name="pos-clock"),
    path("pos/invoices/<str:payment_hash>/cancel/", views_pos.invoice_cancel_view, name="pos-cancel"),
    path("pos/invoices/<str:payment_hash>/qr.svg", views_pos.invoice_qr, name="pos-qr"),
    path("transactions/", views_reports.transactions, name="transactions"),
    path("transactions/export.csv", views_reports.transactions_csv, name="transactions-csv"),
    path("transactions/refunds.csv", views_reports.refunds_csv, name="refunds-csv"),
    path("transactions/<str:payment_hash>/", views_reports.transaction_detail, name="transaction"),
    path("transactions/<str:payment_hash>/refund/", views_refunds.refund_new, name="refund-new"),
    path("refunds/<int:refund_id>/", views_refunds.refund_detail, name="refund"),
    path("refunds/<int:refund_id>/<str:which>.svg", views_refunds.refund_qr, name="refund-qr"),
    path("refunds/<int:refund_id>/payout/", views_refunds.refund_payout, name="refund-payout"),
    path("refunds/<int:refund_id>/cancel/", views_refunds.refund_cancel_view, name="refund-cancel"),
    path("tips/", views_reports.tips, name="tips"),
    path("tips/<int:staff_id>/", views_reports.statement, name="statement"),
    path("tips/<int:staff_id>/statement.csv", views_reports.statement_csv, name="statement-csv"),
    path("report/", views_reports.report, name="report"),
    path("charts/", views_reports.charts, name="charts"),
    # Shifts and pooled tips (views_shifts).
    path("shifts/", views_shifts.shifts, name="shifts"),
    path("shifts/clock/", views_shifts.clock, name="shift-clock"),
    path("shifts/setup/<str:what>/", views_shifts.pool_setup, name="pool-setup"),
    path("shifts/<int:shift_id>/", views_shifts.shift_detail, name="shift"),
    path("shifts/<int:shift_id>/correct/", views_shifts.shift_correct, name="shift-correct"),
    path("shifts/<int:shift_id>/close/", views_shifts.shift_close, name="shift-close"),
    path("shifts/payouts/<int:payout_id>/reopen/", views_shifts.payout_reopen, name="pool-payout-reopen"),
    path("settings/", views_settings.settings_page, name="settings"),
    path("settings/general/", views_settings.settings_general, name="settings-general"),
    path("settings/staff/", views_settings.staff_add, name="staff-add"),
    path("settings/staff/<int:staff_id>/deactivate/", views_settings.staff_remove, name="staff-deactivate"),
    path("settings/staff/<int:staff_id>/payout/", views_settings.staff_payout, name="staff-payout"),
    path("settings/payout/", views_settings.merchant_payout, name="merchant-payout"),
    path("settings/profiles/", views_settings.profile_save, name="profile-save"),
    path("settings/terminals/", views_settings.terminal_add, name="terminal-add"),
    path("settings/terminals/<int:terminal_id>/revoke/", views_settings.terminal_remove, name="terminal-revoke"),
    path("settings/terminals/<int:terminal_id>/refunds/", views_settings.terminal_refunds, name="terminal-refunds"),
    path("settings/api-key/", views_settings.api_key_set, name="api-key"),
    path("settings/receipts/", views_settings.receipt_details, name="receipt-details"),
    path("settings/cashier-pins/", views_settings.cashier_pin_save, name="cashier-pin-save"),
    path("settings/cashier-pins/<int:pin_id>/remove/", views_settings.cashier_pin_remove, name="cashier-pin-remove"),
    # The customer's receipt: public, behind its unguessable token (views_receipts).
    path("r/<str:token>/", views_receipts.receipt, name="receipt"),
    path("r/<str:token>/receipt.escpos", views_receipts.receipt_escpos_bytes, name="receipt-escpos"),
    path("r/<str:token>/qr.svg", views_receipts.receipt_qr, name="receipt-qr"),
    path("r/<str:token>/refunds/<int:refund_id>/", views_receipts.refund_receipt, name="refund-receipt"),
    path(
        "r/<str:token>/refunds/<int:refund_id>/receipt.escpos",
        views_receipts.refund_receipt_escpos_bytes,
        name="refund-receipt-escpos",
    ),
    path("r/<str:token>/refunds/<int:refund_id>/qr.svg", views_receipts.refund_receipt_qr, name="refund-receipt-qr"),
    # The cashier's view: its own session, no dashboard login (views_cashier, cashier_access).
    path("cashier/", views_cashier.cashier_sales, name="cashier"),
    path("cashier/summary/", views_cashier.cashier_summary, name="cashier-summary"),
    path("cashier/login/", views_cashier.cashier_login, name="cashier-login"),
    path("cashier/logout/", views_cashier.cashier_logout, name="cashier-logout"),
    path("cashier/clock/", views_pos_clock.cashier_clock, name="cashier-clock"),
    path("cashier/refund/<str:payment_hash>/", views_cashier_refunds.cashier_refund_new, name="cashier-refund-new"),
    path("cashier/refunds/<int:refund_id>/", views_cashier_refunds.cashier_refund_detail, name="cashier-refund"),
    path(
        "cashier/refunds/<int:refund_id>/<str:which>.svg",
        views_cashier_refunds.cashier_refund_qr,
        name="cashier-refund-qr",
    ),
    path("settings/pay-codes/", views_settings.paycode_add, name="paycode-add"),
    path("settings/pay-codes/<int:code_id>/deactivate/", views_settings.paycode_remove, name="paycode-deactivate"),
    path("settings/pay-codes/<int:code_id>/poster.pdf", views_settings.paycode_poster, name="paycode-poster"),
    # Public, no login: "add a tip" to a completed sale, keyed by its receipt token (views_tip).
    path("r/<str:token>/tip/", views_tip.receipt_tip, name="receipt-tip"),
    path("r/<str:token>/tip/<str:tip_token>/", views_tip.receipt_tip_invoice, name="receipt-tip-invoice"),
    path("r/<str:token>/tip/<str:tip_token>/status", views_tip.receipt_tip_status, name="receipt-tip-status"),
]
