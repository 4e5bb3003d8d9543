package configs

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/heimdall/edged/configs/check"
)

// errNoKey is the problem of an EDGED_ variable that names no key.
var errNoKey = errors.New("no such config key")

// applyEnv maps EDGED_<PATH>=value onto the key whose yaml path, joined by underscores and
// upper-cased, is PATH: EDGED_MQTT_BROKER is mqtt.broker, EDGED_RECEIVER_ID receiver_id.
// EDGED_ORT_LIB is onnxruntime_lib; EDGED_CONFIG names the file and is skipped. A variable
// that names no key, or whose value does not fit the key, is a mistake naming the variable
// (never its value: it may be a secret). Where each key was set is recorded in o.
func applyEnv(c *Config, env []string, o *origins) []*Mistake {
	var errs []*Mistake
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "EDGED_") {
			continue
		}
		name := strings.ToLower(strings.TrimPrefix(k, "EDGED_"))
		switch name {
		case "config":
			continue
		case "ort_lib":
			name = "onnxruntime_lib"
		}
		where := "environment " + k
		key, err := setByPath(reflect.ValueOf(c).Elem(), name, v, "")
		switch {
		case key == "":
			errs = append(errs, &Mistake{Where: where, Err: errNoKey})
		case err != nil:
			errs = append(errs, &Mistake{Where: where, Err: check.Errorf(nil, key, "%v", err)})
		default:
			o.at[key] = origin{where: where}
		}
	}
	return errs
}

// setByPath finds the field whose yaml path, joined by underscores, equals name, and sets
// it from val. It returns the field's dotted key ("" when there is none).
func setByPath(v reflect.Value, name, val, prefix string) (string, error) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		if opts == "inline" {
			if key, err := setByPath(fv, name, val, prefix); key != "" {
				return key, err
			}
			continue
		}
		key := check.Join(prefix, tag)
		switch {
		case fv.Kind() == reflect.Struct && strings.HasPrefix(name, tag+"_"):
			if key, err := setByPath(fv, strings.TrimPrefix(name, tag+"_"), val, key); key != "" {
				return key, err
			}
		case fv.Kind() != reflect.Struct && name == tag:
			return key, setScalar(fv, val)
		}
	}
	return "", nil
}

// setScalar parses s as the field's kind, as the YAML decoder would read it.
func setScalar(v reflect.Value, s string) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("want a whole number")
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("want a number")
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
