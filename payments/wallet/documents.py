"""The GraphQL documents the client sends, one constant per operation.

They are module-level so the contract tests can parse and validate every one of them against
Blink's public schema and against the fake's SDL subset. Selections are minimal: only what the
client reads, and ``errors { code message path }`` on every mutation payload (Blink reports most
mutation failures there, not in the top-level ``errors``).
"""

from __future__ import annotations

from typing import Final

from payments.wallet import fees as _fees

_INVOICE_FIELDS = "createdAt externalId paymentHash paymentRequest paymentStatus satoshis"

# The preimage lives on the settlement (SettlementViaLn / SettlementViaIntraLedger), the hash on the
# initiation; both are unions, hence the fragments.
_TX_FIELDS = """
      id
      createdAt
      direction
      status
      settlementAmount
      settlementFee
      settlementCurrency
      initiationVia {
        __typename
        ... on InitiationViaLn { paymentHash }
      }
      settlementVia {
        __typename
        ... on SettlementViaLn { preImage }
        ... on SettlementViaIntraLedger { preImage }
      }
"""

LN_INVOICE_CREATE: Final = f"""
mutation LnInvoiceCreate($input: LnInvoiceCreateInput!) {{
  lnInvoiceCreate(input: $input) {{
    errors {{ code message path }}
    invoice {{ {_INVOICE_FIELDS} }}
  }}
}}
"""

LN_INVOICE_CREATE_ON_BEHALF_OF_RECIPIENT: Final = f"""
mutation LnInvoiceCreateOnBehalfOfRecipient($input: LnInvoiceCreateOnBehalfOfRecipientInput!) {{
  lnInvoiceCreateOnBehalfOfRecipient(input: $input) {{
    errors {{ code message path }}
    invoice {{ {_INVOICE_FIELDS} }}
  }}
}}
"""

LN_INVOICE_PAYMENT_STATUS_BY_HASH: Final = """
query LnInvoicePaymentStatusByHash($input: LnInvoicePaymentStatusByHashInput!) {
  lnInvoicePaymentStatusByHash(input: $input) {
    paymentHash
    paymentPreimage
    status
  }
}
"""

LN_INVOICE_CANCEL: Final = """
mutation LnInvoiceCancel($input: LnInvoiceCancelInput!) {
  lnInvoiceCancel(input: $input) {
    errors { code message path }
    success
  }
}
"""

# walletCurrency: BTC, because without it Blink returns the account's *default* wallet, which may be
# a USD (Stablesats) wallet.
ACCOUNT_DEFAULT_WALLET: Final = """
query AccountDefaultWallet($username: Username!, $walletCurrency: WalletCurrency) {
  accountDefaultWallet(username: $username, walletCurrency: $walletCurrency) {
    id
    currency
  }
}
"""

LN_INVOICE_PAYMENT_SEND: Final = f"""
mutation LnInvoicePaymentSend($input: LnInvoicePaymentInput!) {{
  lnInvoicePaymentSend(input: $input) {{
    errors {{ code message path }}
    status
    transaction {{ {_TX_FIELDS} }}
  }}
}}
"""

TRANSACTIONS_BY_PAYMENT_HASH: Final = f"""
query TransactionsByPaymentHash($walletId: WalletId!, $paymentHash: PaymentHash!) {{
  me {{
    defaultAccount {{
      walletById(walletId: $walletId) {{
        id
        walletCurrency
        transactionsByPaymentHash(paymentHash: $paymentHash) {{ {_TX_FIELDS} }}
      }}
    }}
  }}
}}
"""

# The platform wallet's history, newest first, one page per call (Relay cursors), with the balance in
# the same answer. No preimage: the books compare amounts and hashes, and a listing never needs a secret.
WALLET_TRANSACTIONS: Final = """
query WalletTransactions($walletId: WalletId!, $first: Int, $after: String) {
  me {
    defaultAccount {
      walletById(walletId: $walletId) {
        id
        walletCurrency
        balance
        transactions(first: $first, after: $after) {
          edges {
            cursor
            node {
              id
              createdAt
              direction
              status
              externalId
              settlementAmount
              settlementFee
              settlementCurrency
              initiationVia {
                __typename
                ... on InitiationViaLn { paymentHash }
              }
            }
          }
          pageInfo { hasNextPage endCursor }
        }
      }
    }
  }
}
"""

# realtimePrice, not currencyConversionEstimation: the latter takes the amount as a GraphQL Float and
# answers only in sats and USD cents, while realtimePrice prices one sat in minor units of any
# display currency as an exact integer pair (base / 10^offset). One cached price converts any amount.
REALTIME_PRICE: Final = """
query RealtimePrice($currency: DisplayCurrency!) {
  realtimePrice(currency: $currency) {
    id
    timestamp
    btcSatPrice { base offset }
    denominatorCurrencyDetails { id fractionDigits }
  }
}
"""

# User.username is deprecated on Blink but is the only place the key's own username is exposed.
KEY_INFO: Final = """
query KeyInfo {
  authorization { scopes }
  me {
    id
    username
    defaultAccount {
      id
      wallets { id walletCurrency }
    }
  }
}
"""

ALL_DOCUMENTS: Final[dict[str, str]] = {
    "lnInvoiceCreate": LN_INVOICE_CREATE,
    "lnInvoiceCreateOnBehalfOfRecipient": LN_INVOICE_CREATE_ON_BEHALF_OF_RECIPIENT,
    "lnInvoicePaymentStatusByHash": LN_INVOICE_PAYMENT_STATUS_BY_HASH,
    "lnInvoiceCancel": LN_INVOICE_CANCEL,
    "accountDefaultWallet": ACCOUNT_DEFAULT_WALLET,
    "lnInvoicePaymentSend": LN_INVOICE_PAYMENT_SEND,
    "transactionsByPaymentHash": TRANSACTIONS_BY_PAYMENT_HASH,
    "walletTransactions": WALLET_TRANSACTIONS,
    "realtimePrice": REALTIME_PRICE,
    "keyInfo": KEY_INFO,
    # Defined beside its typed result (fees.py); listed here so the contract tests validate it too.
    "lnInvoiceFeeProbe": _fees.LN_INVOICE_FEE_PROBE,
}
