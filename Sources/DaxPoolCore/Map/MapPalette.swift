/// The colours of a map: free, held and bad memory, and a distinct colour for each device.
public enum MapPalette {
    /// Free memory: a light grey.
    public static let free = MapColor(red: 0xE4, green: 0xE7, blue: 0xEB)
    /// Memory held but not listed: a mid grey.
    public static let held = MapColor(red: 0x8A, green: 0x8F, blue: 0x96)
    /// Bad blocks: red.
    public static let badBlock = MapColor(red: 0xD6, green: 0x16, blue: 0x16)
    /// The grid marks and outlines.
    public static let ink = MapColor(red: 0x22, green: 0x22, blue: 0x22)

    /// Qualitative colours, no red or grey among them (red means bad, grey free or held).
    static let fixed: [MapColor] = [
        MapColor(red: 0x4E, green: 0x79, blue: 0xA7),  // blue
        MapColor(red: 0xF2, green: 0x8E, blue: 0x2B),  // orange
        MapColor(red: 0x59, green: 0xA1, blue: 0x4F),  // green
        MapColor(red: 0xB0, green: 0x7A, blue: 0xA1),  // purple
        MapColor(red: 0xED, green: 0xC9, blue: 0x48),  // yellow
        MapColor(red: 0x76, green: 0xB7, blue: 0xB2),  // teal
        MapColor(red: 0x9C, green: 0x75, blue: 0x5F),  // brown
        MapColor(red: 0xFF, green: 0x9D, blue: 0xA7),  // pink
        MapColor(red: 0x2F, green: 0x4B, blue: 0x7C),  // navy
        MapColor(red: 0x8C, green: 0xD1, blue: 0x7D),  // light green
        MapColor(red: 0xA0, green: 0xCB, blue: 0xE8),  // light blue
        MapColor(red: 0x6A, green: 0x3D, blue: 0x9A),  // violet
    ]

    /// `count` device colours, all different: the fixed ones first, then hues around the colour wheel by the
    /// golden angle at alternating lightness, each kept apart from the ones before it and from the free, held and
    /// bad colours as far as `count` allows.
    public static func deviceColors(count: Int) -> [MapColor] {
        var chosen = Array(fixed.prefix(count))
        let reserved = [free, held, badBlock, MapColor.white, MapColor.black]
        var candidate = 0
        var spacing = 48.0
        var misses = 0
        while chosen.count < count {
            let color = generated(candidate)
            candidate += 1
            let apart =
                chosen.allSatisfy { $0.distance(to: color) >= spacing }
                && reserved.allSatisfy { $0.distance(to: color) >= 56 }
            if apart {
                chosen.append(color)
                misses = 0
            } else {
                misses += 1
                // The wheel is crowded: ask for less distance rather than loop for ever (never below distinct).
                if misses > 360 {
                    spacing = max(spacing / 2, 1)
                    misses = 0
                }
            }
        }
        return chosen
    }

    /// The `index`th colour of the golden-angle sequence.
    static func generated(_ index: Int) -> MapColor {
        let hue = (Double(index) * 137.507_764).truncatingRemainder(dividingBy: 360)
        let lightness = [0.50, 0.66, 0.36, 0.58, 0.44][index % 5]
        let saturation = [0.62, 0.50, 0.72][index % 3]
        return hsl(hue: hue, saturation: saturation, lightness: lightness)
    }

    static func hsl(hue: Double, saturation: Double, lightness: Double) -> MapColor {
        let chroma = (1 - abs(2 * lightness - 1)) * saturation
        let sector = hue / 60
        let second = chroma * (1 - abs(sector.truncatingRemainder(dividingBy: 2) - 1))
        let (red, green, blue): (Double, Double, Double) =
            switch sector {
            case ..<1: (chroma, second, 0)
            case ..<2: (second, chroma, 0)
            case ..<3: (0, chroma, second)
            case ..<4: (0, second, chroma)
            case ..<5: (second, 0, chroma)
            default: (chroma, 0, second)
            }
        let match = lightness - chroma / 2
        func channel(_ value: Double) -> UInt8 { UInt8(clamping: Int(((value + match) * 255).rounded())) }
        return MapColor(red: channel(red), green: channel(green), blue: channel(blue))
    }
}
