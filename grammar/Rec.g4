// Rec.g4: syntax of the .rec model language (semantics live in compiler/frontend).
// Newlines are insignificant: no statement can start with a token that continues an expression.
grammar Rec;

file        : item* EOF ;
item        : importDecl | defDecl | modelDecl ;
importDecl  : 'import' STRING ';'? ;
defDecl     : 'def' name '(' params? ')' block ;
modelDecl   : 'model' name ('(' params? ')')? '{' modelStmt* '}' ;
params      : param (',' param)* ','? ;
param       : name ('=' expr)? ;
block       : '{' stmt* '}' ;

modelStmt
  : 'input' name ':' inputType ('from' STRING)? ';'?        # InputStmt
  | 'label' name ':' name ('from' STRING)? ';'?             # LabelStmt
  | 'output' name '=' expr ';'?                             # OutputStmt
  | 'loss' expr (',' name '=' expr)? ';'?                   # LossStmt
  | 'train' '{' (trainItem (','? trainItem)* ','?)? '}'     # TrainStmt
  | stmt                                                    # PlainStmt
  ;
inputType   : name ('<' name '>')? ('[' expr ']')? ;
trainItem   : name '=' expr ;

stmt
  : name '=' expr ';'?                                      # AssignStmt
  | 'for' name (',' name)? 'in' expr block                  # ForStmt
  | 'return' expr ';'?                                      # ReturnStmt
  ;

// Precedence, tightest first: call/index, unary minus, * /, + - ++, |>.
expr
  : expr '(' args? ')'                                      # CallExpr
  | expr '[' index ']'                                      # IndexExpr
  | '-' expr                                                # NegExpr
  | expr op=('*' | '/') expr                               # MulExpr
  | expr op=('+' | '-' | '++') expr                        # AddExpr
  | expr '|>' expr                                          # PipeExpr
  | '(' expr ')'                                            # ParenExpr
  | '[' (expr (',' expr)* ','?)? ']'                        # ListExpr
  | INT                                                     # IntExpr
  | FLOAT                                                   # FloatExpr
  | STRING                                                  # StringExpr
  | ('true' | 'false')                                      # BoolExpr
  | name                                                    # NameExpr
  ;
index       : expr                                          # AtIndex
            | lo=expr? ':' hi=expr?                         # SliceIndex
            ;
args        : arg (',' arg)* ','? ;
arg         : (name '=')? expr ;

// An expression standing alone (the value of `--set name=value`).
literalOnly : expr EOF ;

// Soft keywords: usable as ordinary names (`label label : binary`, `bce(logit, label)`).
name        : NAME | 'input' | 'label' | 'output' | 'loss' | 'train' | 'from' ;

INT         : [0-9]+ ;
FLOAT       : [0-9]+ '.' [0-9]* EXPONENT? | '.' [0-9]+ EXPONENT? | [0-9]+ EXPONENT ;
fragment EXPONENT : [eE] [+-]? [0-9]+ ;
STRING      : '"' (~["\\\r\n] | '\\' .)* '"' ;
// A string that reaches the end of its line: its own token so the error names it.
BAD_STRING  : '"' (~["\\\r\n] | '\\' .)* ;
NAME        : [a-zA-Z_] [a-zA-Z_0-9]* ;
COMMENT     : '#' ~[\r\n]* -> skip ;
WS          : [ \t\r\n]+ -> skip ;
