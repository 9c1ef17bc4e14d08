/// The unified social credit code (统一社会信用代码) of GB 32100-2015: 18 characters, the 18th a check character.
public enum CreditCode {
    /// The 31 characters allowed: digits and uppercase letters except I, O, Z, S and V.
    public static let alphabet: [Character] = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")

    /// The weights of positions 1–17 (3^(i-1) mod 31).
    public static let weights: [Int] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

    /// ASCII byte → value in the alphabet, or -1.
    private static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (value, character) in alphabet.enumerated() { table[Int(character.asciiValue!)] = Int8(value) }
        return table
    }()

    /// The check character for the first 17 characters of a code.
    /// - Returns: `nil` when `body` is not 17 characters of the alphabet.
    public static func checkCharacter(forBody body: String) -> Character? {
        let bytes = Array(body.utf8)
        guard bytes.count == 17 else { return nil }
        var sum = 0
        for (index, byte) in bytes.enumerated() {
            guard byte < 128, values[Int(byte)] >= 0 else { return nil }
            sum += Int(values[Int(byte)]) * weights[index]
        }
        return alphabet[(31 - sum % 31) % 31]
    }

    /// Checks a complete code.
    /// - Throws: ``ValidationError`` saying what is wrong; for a wrong check character it names the expected one.
    public static func validate(_ code: String) throws(ValidationError) {
        if code.utf8.count == 18, let expected = checkCharacter(forBody: String(code.utf8.prefix(17))!),
            code.utf8.last == expected.asciiValue
        {
            return
        }
        let characters = Array(code)
        guard characters.count == 18 else {
            throw ValidationError(
                field: "creditCode",
                message: "credit code '\(code)' has \(characters.count) characters; a unified social credit code has 18"
            )
        }
        for (index, character) in characters.enumerated() where !alphabet.contains(character) {
            let hint = character.isLowercase ? " (use uppercase)" : ""
            throw ValidationError(
                field: "creditCode",
                message: "credit code '\(code)' has '\(character)' at position \(index + 1), "
                    + "which is not allowed (digits and A-Z except I, O, Z, S, V)\(hint)")
        }
        let body = String(characters[0..<17])
        guard let expected = checkCharacter(forBody: body) else {
            throw ValidationError(field: "creditCode", message: "credit code '\(code)' is malformed")
        }
        guard characters[17] == expected else {
            throw ValidationError(
                field: "creditCode",
                message: "credit code '\(code)' has check character '\(characters[17])', expected '\(expected)'")
        }
    }
}
