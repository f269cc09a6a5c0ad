package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/money"
)

// createRequest is the body of POST /api/orders, as the original OrderFlow
// accepts it. Amounts stay raw until they are converted exactly.
type createRequest struct {
	CustomerID    string          `json:"customerID"`
	CustomerEmail string          `json:"customerEmail"`
	TotalAmount   json.RawMessage `json:"totalAmount"`
	Currency      string          `json:"currency"`
	PaymentMethod string          `json:"paymentMethod"`
	Items         []createItem    `json:"items"`
}

type createItem struct {
	ProductID string          `json:"productID"`
	Quantity  json.RawMessage `json:"quantity"`
	UnitPrice json.RawMessage `json:"unitPrice"`
}

// decodeStrict reads one JSON object into v: unknown fields, wrong types,
// a second value or trailing data are errors that say so.
func decodeStrict(r io.Reader, v any) *apiError {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return badRequest("InvalidJSON", "", "the body holds more than one JSON value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("InvalidJSON", "", "the body holds data after the JSON object")
	}
	return nil
}

// decodeCreate reads a create request strictly and turns it into an Order
// spec: unknown fields, wrong types, trailing data, inexact or negative
// amounts and a totalAmount that is not the sum of the items are errors
// that name the field.
func decodeCreate(r io.Reader) (v1alpha1.OrderSpec, *apiError) {
	var req createRequest
	if aerr := decodeStrict(r, &req); aerr != nil {
		return v1alpha1.OrderSpec{}, aerr
	}

	spec := v1alpha1.OrderSpec{
		CustomerID: req.CustomerID, CustomerEmail: req.CustomerEmail,
		Currency: req.Currency, PaymentMethod: req.PaymentMethod,
	}
	if req.CustomerID == "" {
		return spec, badRequest("MissingField", "customerID", "customerID is required")
	}
	items, sum, allPriced, aerr := decodeItems(req.Items)
	if aerr != nil {
		return spec, aerr
	}
	spec.Items = items
	if !isNull(req.TotalAmount) {
		total, aerr := amount(req.TotalAmount, "totalAmount")
		if aerr != nil {
			return spec, aerr
		}
		if !allPriced {
			return spec, badRequest("InvalidAmount", "totalAmount", "totalAmount needs a unitPrice on every item to be checked")
		}
		if total != sum {
			return spec, badRequest("TotalMismatch", "totalAmount",
				fmt.Sprintf("totalAmount %s is not the sum of the items, %s", total, sum))
		}
	}
	return spec, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// amount reads an amount given as a JSON number or a decimal string.
func amount(raw json.RawMessage, field string) (money.Amount, *apiError) {
	text := strings.TrimSpace(string(raw))
	if strings.HasPrefix(text, `"`) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, badRequest("InvalidAmount", field, field+" must be a number or a decimal string")
		}
		text = s
	} else if text == "" || !(text[0] == '-' || (text[0] >= '0' && text[0] <= '9')) {
		return 0, badRequest("InvalidAmount", field, field+" must be a number or a decimal string")
	}
	a, err := money.ParseNumber(text)
	if err != nil {
		return 0, badRequest("InvalidAmount", field, fmt.Sprintf("%s: %v", field, err))
	}
	return a, nil
}

// quantity reads a whole number of units, 1 to 10000.
func quantity(raw json.RawMessage, field string) (int32, *apiError) {
	if isNull(raw) {
		return 0, badRequest("MissingField", field, field+" is required")
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || !(t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
		return 0, badRequest("InvalidQuantity", field, field+" must be a whole number, not "+jsonKind(t))
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return 0, badRequest("InvalidQuantity", field, field+" must be a whole number")
	}
	q, err := n.Int64()
	if err != nil || q < 1 || q > 10000 {
		return 0, badRequest("InvalidQuantity", field, field+" must be a whole number from 1 to 10000")
	}
	return int32(q), nil
}

// decodeError names the field of a JSON decoding error where it can.
func decodeError(err error) *apiError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "BodyTooLarge",
			Message: fmt.Sprintf("the body is larger than %d bytes", maxErr.Limit)}
	case errors.As(err, &typeErr):
		return badRequest("InvalidType", typeErr.Field, fmt.Sprintf("%s must be a %s, not a %s", typeErr.Field, typeName(typeErr.Type.Kind().String()), typeErr.Value))
	case errors.As(err, &syntaxErr):
		return badRequest("InvalidJSON", "", fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, err))
	case errors.Is(err, io.EOF):
		return badRequest("InvalidJSON", "", "the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("InvalidJSON", "", "the body ends in the middle of the JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest("UnknownField", field, fmt.Sprintf("unknown field %q", field))
	}
	return badRequest("InvalidJSON", "", err.Error())
}

func typeName(kind string) string {
	switch kind {
	case "slice":
		return "list"
	case "struct", "map":
		return "object"
	}
	return kind
}

// jsonKind names the kind of a JSON value for error messages.
func jsonKind(raw []byte) string {
	switch {
	case len(raw) == 0:
		return "nothing"
	case raw[0] == '"':
		return "a string"
	case raw[0] == '{':
		return "an object"
	case raw[0] == '[':
		return "a list"
	case raw[0] == 't' || raw[0] == 'f':
		return "a boolean"
	}
	return "that"
}

// decodeItems reads an order's items, at least one: it returns them, the
// sum of their unit prices and whether every item named one.
func decodeItems(in []createItem) (items []v1alpha1.OrderItem, sum money.Amount, allPriced bool, aerr *apiError) {
	if len(in) == 0 {
		return nil, 0, false, badRequest("MissingField", "items", "at least one item is required")
	}
	allPriced = true
	for i, it := range in {
		field := fmt.Sprintf("items[%d]", i)
		if it.ProductID == "" {
			return nil, 0, false, badRequest("MissingField", field+".productID", "productID is required")
		}
		qty, aerr := quantity(it.Quantity, field+".quantity")
		if aerr != nil {
			return nil, 0, false, aerr
		}
		item := v1alpha1.OrderItem{ProductID: it.ProductID, Quantity: qty}
		if isNull(it.UnitPrice) {
			allPriced = false
		} else {
			price, aerr := amount(it.UnitPrice, field+".unitPrice")
			if aerr != nil {
				return nil, 0, false, aerr
			}
			item.UnitPrice = price.String()
			line, err := price.Mul(int64(qty))
			if err == nil {
				sum, err = sum.Add(line)
			}
			if err != nil {
				return nil, 0, false, badRequest("InvalidAmount", field+".unitPrice", "the order total is too large")
			}
		}
		items = append(items, item)
	}
	return items, sum, allPriced, nil
}

// amendRequest is the body of PATCH /api/orders/{id}: the order's new
// items, its new email, or both.
type amendRequest struct {
	Items         []createItem `json:"items"`
	CustomerEmail *string      `json:"customerEmail"`
}

// decodeAmend reads an amendment strictly: unknown fields (customerID,
// currency and paymentMethod never change), wrong types, trailing data and
// an empty change are errors that name the field.
func decodeAmend(r io.Reader) (items []v1alpha1.OrderItem, email *string, aerr *apiError) {
	var req amendRequest
	if aerr := decodeStrict(r, &req); aerr != nil {
		return nil, nil, aerr
	}
	if req.Items == nil && req.CustomerEmail == nil {
		return nil, nil, badRequest("MissingField", "items", "an amendment changes items, customerEmail or both")
	}
	if req.Items != nil {
		if items, _, _, aerr = decodeItems(req.Items); aerr != nil {
			return nil, nil, aerr
		}
	}
	return items, req.CustomerEmail, nil
}
