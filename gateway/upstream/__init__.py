"""The upstream side: the gateway as an OpenADR 2.0b VEN of a utility's VTN."""
