// Package configs holds kfgate's example configuration, embedded in the
// binary so that `kfgate serve --demo` runs with nothing mounted. Its
// secrets and tokens are public demo values, which kfgate refuses in any
// other configuration.
package configs

import _ "embed"

// ExampleName is the example's path in the repository.
const ExampleName = "configs/kfgate.example.yaml"

// Example is the content of kfgate.example.yaml.
//
//go:embed kfgate.example.yaml
var Example []byte
