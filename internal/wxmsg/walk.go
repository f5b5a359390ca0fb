package wxmsg

// The walker turns tokens into what a WeChat push means: elements with a
// value (leaves) and elements that contain others. WeChat never sends mixed
// content, so an element's text counts only while it has no child element;
// whitespace between children, and text beside them, is dropped (Raw keeps
// it).

type event uint8

const (
	evEOF   event = iota
	evStart       // an element below <xml> opened; path names it
	evLeaf        // an element without children closed; val is its text
)

type walker struct {
	sc   scanner
	vals [maxDepth]value
	// buf collects the text of an element whose text arrives in pieces
	// (character data around a CDATA section, say). Only the innermost open
	// element collects text, so one buffer serves all and the cost stays
	// linear however the text is cut up.
	buf []byte
}

type value struct {
	s        string
	buffered bool // the text is in walker.buf, not s
	parent   bool // a child element was seen: the text is ignored
}

func newWalker(s string) walker { return walker{sc: newScanner(s)} }

// next returns the next event. path holds the element's name and its
// ancestors' below <xml> ("SendPicsInfo", "PicList", "item"); it is valid
// until the next call.
func (w *walker) next() (ev event, path []string, val string, err error) {
	for {
		kind, text, err := w.sc.next()
		if err != nil {
			return evEOF, nil, "", err
		}
		switch kind {
		case tokEOF:
			return evEOF, nil, "", nil
		case tokStart:
			d := w.sc.depth // the new element is stack[d-1]
			w.vals[d-1] = value{}
			if d == 1 {
				continue
			}
			w.vals[d-2] = value{parent: true}
			return evStart, w.sc.stack[1:d], "", nil
		case tokText:
			v := &w.vals[w.sc.depth-1]
			switch {
			case v.parent:
			case v.buffered:
				w.buf = append(w.buf, text...)
			case v.s == "":
				v.s = text
			default:
				w.buf = append(append(w.buf[:0], v.s...), text...)
				v.buffered = true
			}
		case tokEnd:
			d := w.sc.depth // the element just closed was stack[d]
			v := &w.vals[d]
			if d == 0 || v.parent {
				continue
			}
			if v.buffered {
				v.s = string(w.buf)
			}
			return evLeaf, w.sc.stack[1 : d+1], v.s, nil
		}
	}
}
