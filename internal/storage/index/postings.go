package index

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// smallPostings is the size up to which a posting list is a sorted slice
// rather than a roaring bitmap. A roaring bitmap holding one id costs
// about 150 bytes (the bitmap, its key, container and flag slices and an
// array container); a slice of up to 16 ids costs at most 64. Tags that
// are unique per series (container ids, paths) are common, so most
// posting lists are tiny.
const smallPostings = 16

// postings is the set of series ids carrying one tag value. It is stored
// by value in its map, so a small list costs no allocation beyond its
// slice.
type postings struct {
	small []uint32 // sorted; nil once bm is used
	bm    *roaring.Bitmap
}

func (p *postings) add(id uint32) {
	if p.bm != nil {
		p.bm.Add(id)
		return
	}
	i, found := slices.BinarySearch(p.small, id)
	if found {
		return
	}
	if len(p.small) < smallPostings {
		p.small = slices.Insert(p.small, i, id)
		return
	}
	p.bm = roaring.BitmapOf(p.small...)
	p.bm.Add(id)
	p.small = nil
}

func (p *postings) remove(id uint32) {
	if p.bm != nil {
		p.bm.Remove(id)
		return
	}
	if i, found := slices.BinarySearch(p.small, id); found {
		p.small = slices.Delete(p.small, i, i+1)
	}
}

func (p *postings) empty() bool {
	if p.bm != nil {
		return p.bm.IsEmpty()
	}
	return len(p.small) == 0
}

// orInto adds the set to dst.
func (p *postings) orInto(dst *roaring.Bitmap) {
	if p.bm != nil {
		dst.Or(p.bm)
		return
	}
	dst.AddMany(p.small)
}

// bitmap returns a copy of the set that the caller owns.
func (p *postings) bitmap() *roaring.Bitmap {
	if p.bm != nil {
		return p.bm.Clone()
	}
	return roaring.BitmapOf(p.small...)
}
