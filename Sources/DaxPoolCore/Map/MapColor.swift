/// An sRGB colour of the map.
public struct MapColor: Hashable, Sendable, CustomStringConvertible {
    /// The red channel, 0 … 255.
    public var red: UInt8
    /// The green channel, 0 … 255.
    public var green: UInt8
    /// The blue channel, 0 … 255.
    public var blue: UInt8

    /// The colour with these channel values.
    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// `#4e79a7`.
    public var hex: String {
        "#" + [red, green, blue].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// The colour in `#rrggbb` form.
    public var description: String { hex }

    /// Approximate relative luminance (0 black … 1 white; gamma 2 instead of sRGB's curve), to choose a legible
    /// text colour on it.
    public var luminance: Double {
        func linear(_ channel: UInt8) -> Double {
            let value = Double(channel) / 255
            return value * value
        }
        return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    }

    /// Black or white, whichever reads better on this colour.
    public var textColor: MapColor { luminance > 0.22 ? .black : .white }

    /// The distance between two colours in RGB space (0 … 441).
    public func distance(to other: MapColor) -> Double {
        let red = Double(self.red) - Double(other.red)
        let green = Double(self.green) - Double(other.green)
        let blue = Double(self.blue) - Double(other.blue)
        return (red * red + green * green + blue * blue).squareRoot()
    }

    /// `#000000`, the text colour on light fills.
    public static let black = MapColor(red: 0, green: 0, blue: 0)
    /// `#ffffff`, the text colour on dark fills.
    public static let white = MapColor(red: 255, green: 255, blue: 255)
}
